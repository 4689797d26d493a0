#!/usr/bin/env bash
# tsan-cc.sh - print the compiler to build ThreadSanitizer tests with: gcc if
# its TSan links and runs a threaded program on this kernel, else clang.
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/t.c" <<'C'
#include <pthread.h>
static int x;
static void *f(void *a) { (void)a; __atomic_fetch_add(&x, 1, __ATOMIC_RELAXED); return 0; }
int main(void) { pthread_t t; pthread_create(&t, 0, f, 0); f(0); pthread_join(t, 0); return 0; }
C
for cc in gcc clang; do
    if "$cc" -fsanitize=thread -pthread "$tmp/t.c" -o "$tmp/t" 2>/dev/null && "$tmp/t" >/dev/null 2>&1; then
        echo "$cc"
        exit 0
    fi
done
echo "rail: neither gcc nor clang can run ThreadSanitizer here" >&2
exit 1
