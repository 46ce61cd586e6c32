package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/keyward/keyward/client"
	"github.com/keyward/keyward/protocol"
)

// rotateCommand is `keyward rotate NAME`: the new secret replaces the old
// one in the vault and in memory at once; bots keep working.
func rotateCommand() *command {
	var secretFile, passphraseFile, apiKey string
	return &command{
		needsAgent: true, name: "rotate", args: "NAME", nargs: 1,
		setup: func(fs *flag.FlagSet) {
			fs.StringVar(&secretFile, "secret-file", "", "read the new secret or private key (PEM) from this file, or - for stdin, instead of asking")
			fs.StringVar(&passphraseFile, "passphrase-file", "", "read the new key's passphrase from this file, or - for stdin")
			fs.StringVar(&apiKey, "api-key", "", "the new key's public id, when the venue issued a new one with the secret")
		},
		check: func(args []string) error {
			if secretFile == "-" && passphraseFile == "-" {
				return usageError("--secret-file - and --passphrase-file - cannot both read stdin")
			}
			return nil
		},
		run: func(ctx context.Context, u *ui, c *client.Client, args []string) error {
			list, err := c.List(ctx)
			if err != nil {
				return err
			}
			var cur *protocol.CredentialInfo
			for i := range list.Credentials {
				if list.Credentials[i].Name == args[0] {
					cur = &list.Credentials[i]
				}
			}
			if cur == nil {
				return failure(fmt.Sprintf("no credential named %q", args[0]), "see `keyward list`")
			}
			hello, err := c.Hello(ctx, protocol.HelloArgs{Version: protocol.Version, Client: "keyward-cli"})
			if err != nil {
				return err
			}
			needsPass := "none"
			for _, s := range hello.Schemes {
				if s.Name == cur.Scheme {
					needsPass = s.Passphrase
				}
			}
			secret, pass, err := readKeyMaterial(u, secretFile, passphraseFile, needsPass, "New API secret or private key", "Passphrase of the new key")
			if err != nil {
				return err
			}
			defer clear(secret)
			defer clear(pass)
			info, err := c.Rotate(ctx, protocol.RotateArgs{Name: args[0], APIKey: apiKey, Secret: secret, Passphrase: pass})
			if err != nil {
				return err
			}
			if u.json {
				return u.printJSON(info)
			}
			u.println("Rotated %s: version %d, the old secret is wiped. Revoke the old key at the venue.", info.Name, info.Version)
			return nil
		},
	}
}
