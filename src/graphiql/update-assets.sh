#!/usr/bin/env bash
# Fetch the pinned GraphiQL playground assets from the npm registry into assets/.
#
# The binary embeds these files (include_bytes!), so the build never fetches anything
# and the playground works on machines without internet. To update: change a version
# below, run this script, review `git diff src/graphiql/assets/SHA256SUMS`, bump
# ASSET_PREFIX in mod.rs (it carries the version) and re-run the browser check
# (browser-check.mjs).
#
# Usage: src/graphiql/update-assets.sh        (needs npm, tar, sha256sum)
set -euo pipefail

# graphiql 4.x is the last major that ships a UMD build (graphiql.min.js/.css);
# it runs on React 18's UMD builds (React 19 ships none).
GRAPHIQL_VERSION=4.1.2
REACT_VERSION=18.3.1
REACT_DOM_VERSION=18.3.1

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/assets"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cd "$tmp"
for spec in "graphiql@$GRAPHIQL_VERSION" "react@$REACT_VERSION" "react-dom@$REACT_DOM_VERSION"; do
    name="${spec%@*}"
    mkdir -p "$name"
    tarball="$(npm pack --silent "$spec")"
    tar -xzf "$tarball" -C "$name"
done

mkdir -p "$out"
# The UMD builds. graphiql.min.js bundles everything else it needs (graphql-js,
# CodeMirror 5, its plugins, fonts and icons as data: URLs); it only expects the
# globals React and ReactDOM.
cp graphiql/package/graphiql.min.js   "$out/graphiql.min.js"
cp graphiql/package/graphiql.min.css  "$out/graphiql.min.css"
cp react/package/umd/react.production.min.js         "$out/react.production.min.js"
cp react-dom/package/umd/react-dom.production.min.js "$out/react-dom.production.min.js"
# Licence texts travel with the files they cover.
cp graphiql/package/LICENSE  "$out/LICENSE-graphiql"
cp react/package/LICENSE     "$out/LICENSE-react"
cp react-dom/package/LICENSE "$out/LICENSE-react-dom"

cat > "$out/VERSIONS" <<VERSIONS
graphiql $GRAPHIQL_VERSION
react $REACT_VERSION
react-dom $REACT_DOM_VERSION
VERSIONS

cd "$out"
# Only fetched files are listed; our own init.js lives beside mod.rs, not here.
sha256sum graphiql.min.js graphiql.min.css react.production.min.js \
    react-dom.production.min.js LICENSE-graphiql LICENSE-react LICENSE-react-dom VERSIONS \
    > SHA256SUMS
echo "assets updated in $out:"
cat SHA256SUMS
