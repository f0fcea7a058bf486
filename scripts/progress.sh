#!/usr/bin/env bash
# Shortens the output of a `go build -v`, `go install -v` or `go vet` run to
# one progress line: scripts/progress.sh LABEL < output. Package paths are
# counted, "go: downloading" lines counted as modules; anything else
# (compiler errors, vet findings) is passed through as is. On a terminal the
# line updates in place; elsewhere (CI logs) it is printed every 100 packages.
label=${1:-compiling}
pkgs=0 mods=0 last=""
tty=false
[[ -t 2 ]] && tty=true
show() {
  local msg="  $label: $pkgs packages compiled"
  ((mods)) && msg+=", $mods modules downloaded"
  if $tty; then printf '\r\033[K%s%s' "$msg" "${1:+ ($1)}" >&2; else printf '%s\n' "$msg" >&2; fi
}
while IFS= read -r line; do
  if [[ $line == "go: downloading "* ]]; then
    mods=$((mods + 1)) last=${line#go: downloading }
  elif [[ $line =~ ^[A-Za-z0-9._~/+-]+$ ]]; then
    pkgs=$((pkgs + 1)) last=$line
  else
    $tty && ((pkgs + mods)) && printf '\n' >&2
    printf '%s\n' "$line" >&2
    continue
  fi
  if $tty; then show "${last:0:60}"; elif (((pkgs + mods) % 100 == 0)); then show; fi
done
if ((pkgs + mods)); then
  $tty && printf '\r\033[K' >&2
  show
fi
