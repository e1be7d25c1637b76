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

# net/detect: a short harness run asserting counts (tests/net/test_detect.py):
# no false down under loss, delay and starvation; every kill -9, link cut
# and SIGSTOP detected by all and healed. Root, namespaces, nftables and
# the delayer; fails loudly when any is missing. ~3 minutes, alone.
if(NOT Python3_EXECUTABLE)
  find_package(Python3 COMPONENTS Interpreter)
endif()
add_test(NAME net/detect
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/tests/net/test_detect.py
                 $<TARGET_FILE:rollcall>)
set_tests_properties(net/detect PROPERTIES LABELS integration TIMEOUT 900 RUN_SERIAL TRUE)
