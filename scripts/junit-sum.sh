#!/usr/bin/env bash
# junit-sum.sh JUNIT.xml... - the final line of make test, from CTest's own
# JUnit reports (ctest --output-junit, set in CMakePresets.json): a test
# passed if its <testcase> has status="run"; anything else (failed, timed
# out, not run) failed. A suite with no report counts as one failure.
# Exits non-zero unless everything passed.
set -uo pipefail
passed=0 failed=0
for report in "$@"; do
    if [[ ! -s $report ]]; then
        echo "rail: no test report $report (the suite did not run)" >&2
        failed=$((failed + 1))
        continue
    fi
    total=$(grep -c '<testcase ' "$report")
    ok=$(grep '<testcase ' "$report" | grep -c 'status="run"')
    passed=$((passed + ok))
    failed=$((failed + total - ok))
    if [[ $ok -ne $total ]]; then
        grep '<testcase ' "$report" | grep -v 'status="run"' |
            sed -E 's|.*name="([^"]*)".*status="([^"]*)".*|  '"${report%/junit.xml}"': \1 (\2)|' >&2
    fi
done
echo "rail: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
