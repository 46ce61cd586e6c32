package main

import (
	"errors"
	"flag"
	"os/user"
	"strconv"

	"github.com/keyward/keyward/agent"
)

// lookupGroups turns --group names (or numeric gids) into gids. An unknown
// group is a usage error: the agent must never start granting use to a
// group it could not identify.
func lookupGroups(names []string) ([]uint32, error) {
	var gids []uint32
	for _, name := range names {
		gid, err := lookupGroup(name)
		if err != nil {
			return nil, err
		}
		gids = append(gids, gid)
	}
	return gids, nil
}

func lookupGroup(name string) (uint32, error) {
	if name == "" {
		return 0, usageError("--group needs a group name or number")
	}
	g, err := user.LookupGroup(name)
	if err == nil {
		return parseGID(g.Gid, name)
	}
	var unknown user.UnknownGroupError
	if !errors.As(err, &unknown) {
		return 0, failure("--group "+name+": "+err.Error(), "give the group's number instead")
	}
	if gid, perr := strconv.ParseUint(name, 10, 32); perr == nil {
		return uint32(gid), nil
	}
	return 0, usageError("--group %s: no such group (create it with `groupadd %s`, or give a group number)", name, name)
}

func parseGID(s, name string) (uint32, error) {
	gid, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, failure("--group " + name + ": the system reports gid " + strconv.Quote(s) + ", which is not a number")
	}
	return uint32(gid), nil
}

// settingFlags maps the agent's flags to the config file keys they pin.
var settingFlags = map[string]string{
	"lock-after": agent.KeyLockAfter,
	"lock-idle":  agent.KeyLockIdle,
	"log-level":  agent.KeyLogLevel,
}

// pinnedSettings names the settings given on the command line: they win
// over the config file at start and at every reload.
func pinnedSettings(fs *flag.FlagSet) map[string]bool {
	pinned := map[string]bool{}
	if fs == nil {
		return pinned
	}
	fs.Visit(func(f *flag.Flag) {
		if key, ok := settingFlags[f.Name]; ok {
			pinned[key] = true
		}
	})
	return pinned
}
