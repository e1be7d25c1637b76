# EPMD interop with the real Erlang epmd and erl (opt-in parts of test_epmd).
add_test(NAME integration/epmd_interop
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_epmd_interop.sh $<TARGET_FILE:test_epmd>)
set_tests_properties(integration/epmd_interop PROPERTIES LABELS integration TIMEOUT 180)
