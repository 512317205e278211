# check_test_hooks.cmake - does the notarium binary carry the test hooks?
#   cmake -DBINARY=path/to/notarium -DWANT=absent|present -P check_test_hooks.cmake
# A build with NT_TEST_HOOKS=OFF (release, scripts/demo.sh) runs it after linking with
# WANT=absent and fails if the hook's environment variable name is in the binary; test
# builds run it as the ctest test build/test_hooks with WANT=present (so the check itself
# is known to see the string when it is there).
file(STRINGS "${BINARY}" hits REGEX "NOTARIUM_TEST_CLOCK_SYNC")
if(WANT STREQUAL "absent" AND hits)
  message(FATAL_ERROR "${BINARY} carries the test hook NOTARIUM_TEST_CLOCK_SYNC "
                      "although NT_TEST_HOOKS is OFF")
elseif(WANT STREQUAL "present" AND NOT hits)
  message(FATAL_ERROR "${BINARY} lacks NOTARIUM_TEST_CLOCK_SYNC although NT_TEST_HOOKS is ON")
endif()
message(STATUS "test hooks ${WANT} in ${BINARY}")
