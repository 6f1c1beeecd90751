#!/bin/sh
# SPDX-License-Identifier: MIT
# Cuts the example program out of a public header's opening comment and
# writes it as a C file: the run of lines indented as code (" *     ")
# that starts with an #include, up to the first line that is neither code
# nor an empty comment line. A #line directive makes the compiler report
# problems at the header's own lines. Fails, saying so, when the header
# has no such program.
#
# Usage: extract_example.sh HEADER OUT.c
set -eu
header=$1
out=$2
awk -v header="$header" '
  /^#ifndef / { exit }
  !started && /^ \*     #include/ {
    started = 1
    printf "#line %d \"%s\"\n", NR, header
  }
  started {
    if ($0 == " *") { print ""; next }
    if (substr($0, 1, 7) != " *     ") exit
    print substr($0, 8)
  }
' "$header" >"$out.tmp"
if ! grep -q '^int main(void)$' "$out.tmp"; then
  echo "$header: no example program in its opening comment (lines" \
    "\" *     #include ...\" through \"int main(void)\")" >&2
  rm -f "$out.tmp"
  exit 1
fi
mv "$out.tmp" "$out"
