#!/bin/sh
# Builds keyward_VERSION_ARCH.deb with dpkg-deb, without debhelper: the
# binary (static, built with GOEXPERIMENT=runtimesecret), the systemd
# units, sysusers.d and tmpfiles.d entries, the man page, bash and zsh
# completions, and the maintainer scripts in packaging/debian.
#
#   packaging/build-deb.sh [OUTDIR]      (make deb)
#
# It prints the path of the .deb it wrote. It never installs anything.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
out=${1:-$top/bin}
go=${GO:-go}
mkdir -p "$out"
out=$(cd "$out" && pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
umask 022

# Reproducible: one timestamp (the last commit's, else now) for every file.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git -C "$top" log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH

arch=$(dpkg --print-architecture)
goarch=$(dpkg-architecture -qDEB_HOST_ARCH_CPU 2>/dev/null || echo "$arch")
[ "$goarch" = i386 ] && goarch=386

mkdir -p "$root/usr/bin"
(cd "$top" && CGO_ENABLED=0 GOOS=linux GOARCH=$goarch GOEXPERIMENT=runtimesecret \
	"$go" build -trimpath -buildmode=pie -ldflags='-s -w -buildid=' -o "$root/usr/bin/keyward" ./cmd/keyward)
version=$("$root/usr/bin/keyward" version --json | sed -n 's/.*"version": *"\([^"]*\)".*/\1/p')
[ -n "$version" ] || { echo "build-deb: cannot read the version from keyward version --json" >&2; exit 1; }

install -d "$root/DEBIAN" "$root/lib/systemd/system" "$root/usr/lib/systemd/user" \
	"$root/usr/lib/sysusers.d" "$root/usr/lib/tmpfiles.d" "$root/etc/keyward" \
	"$root/usr/share/man/man1" "$root/usr/share/bash-completion/completions" \
	"$root/usr/share/zsh/vendor-completions" "$root/usr/share/doc/keyward" \
	"$root/usr/share/lintian/overrides"
install -m 0644 "$top/systemd/keyward.socket" "$top/systemd/keyward.service" "$root/lib/systemd/system/"
install -m 0644 "$top/systemd/user/keyward.socket" "$top/systemd/user/keyward.service" "$root/usr/lib/systemd/user/"
install -m 0644 "$top/systemd/sysusers.d/keyward.conf" "$root/usr/lib/sysusers.d/keyward.conf"
install -m 0644 "$top/systemd/tmpfiles.d/keyward.conf" "$root/usr/lib/tmpfiles.d/keyward.conf"
install -m 0644 "$here/agent.conf" "$root/etc/keyward/agent.conf"
gzip -9n <"$here/keyward.1" >"$root/usr/share/man/man1/keyward.1.gz"
install -m 0644 "$here/completions/keyward.bash" "$root/usr/share/bash-completion/completions/keyward"
install -m 0644 "$here/completions/_keyward" "$root/usr/share/zsh/vendor-completions/_keyward"
install -m 0644 "$here/debian/copyright" "$root/usr/share/doc/keyward/copyright"
sed "s/@VERSION@/$version/" "$here/debian/changelog" | gzip -9n >"$root/usr/share/doc/keyward/changelog.gz"
gzip -9n <"$top/docs/systemd.md" >"$root/usr/share/doc/keyward/systemd.md.gz"
gzip -9n <"$top/README.md" >"$root/usr/share/doc/keyward/README.md.gz"
install -m 0644 "$here/debian/lintian-overrides" "$root/usr/share/lintian/overrides/keyward"
chmod 0644 "$root"/usr/share/man/man1/* "$root"/usr/share/doc/keyward/*

for f in postinst prerm postrm; do install -m 0755 "$here/debian/$f" "$root/DEBIAN/$f"; done
install -m 0644 "$here/debian/conffiles" "$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
	"$here/debian/control.in" >"$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -print |
	sed 's|^\./||' | LC_ALL=C sort | xargs md5sum >DEBIAN/md5sums)
chmod 0644 "$root/DEBIAN/md5sums"
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

deb=$out/keyward_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
