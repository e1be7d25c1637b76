# Integration and docker tests, registered by the suites that own them.
# Each file below adds its tests with LABELS integration or docker.
foreach(part
    ${CMAKE_SOURCE_DIR}/tests/integration/agents.cmake
    ${CMAKE_SOURCE_DIR}/tests/integration/backends.cmake
    ${CMAKE_SOURCE_DIR}/tests/integration/epmd.cmake
    ${CMAKE_SOURCE_DIR}/tests/docker/docker.cmake
    ${CMAKE_SOURCE_DIR}/tests/bench/bench.cmake
    ${CMAKE_SOURCE_DIR}/tests/faults/faults.cmake
    ${CMAKE_SOURCE_DIR}/tests/interop/interop.cmake
    ${CMAKE_SOURCE_DIR}/tests/app/app.cmake
    ${CMAKE_SOURCE_DIR}/tests/ops/ops.cmake
    ${CMAKE_SOURCE_DIR}/tests/net/net.cmake)
  include(${part} OPTIONAL)
endforeach()

add_test(NAME integration/install
         COMMAND ${CMAKE_SOURCE_DIR}/tests/integration/test_install.sh ${CMAKE_SOURCE_DIR})
set_tests_properties(integration/install PROPERTIES LABELS integration TIMEOUT 300)
