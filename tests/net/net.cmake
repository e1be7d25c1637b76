# The network harness (issue 11, tests/net/): the packet delayer it needs
# for the delay scenarios, built when libnetfilter-queue-dev is installed.
# Included by tests/integration/tests.cmake.
pkg_check_modules(NFQUEUE IMPORTED_TARGET libnetfilter_queue)
if(NFQUEUE_FOUND)
  add_executable(rcnet_delayer ${CMAKE_SOURCE_DIR}/tests/net/delayer.c)
  target_link_libraries(rcnet_delayer PRIVATE PkgConfig::NFQUEUE)
  # a test tool, not the agent: no sanitizers needed, and it must run fast
  target_compile_options(rcnet_delayer PRIVATE -fno-sanitize=all)
  target_link_options(rcnet_delayer PRIVATE -fno-sanitize=all)
  set_target_properties(rcnet_delayer PROPERTIES ENABLE_EXPORTS OFF)
  add_dependencies(rollcall rcnet_delayer) # beside the binary, where rcnet.py looks
else()
  message(STATUS "libnetfilter_queue not found: no rcnet_delayer (tests/net delay scenarios)")
endif()
