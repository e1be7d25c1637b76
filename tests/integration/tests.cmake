# Integration and docker tests, registered by the suites that own them.
# Each file below adds its tests with LABELS integration or docker.
foreach(part
    ${CMAKE_SOURCE_DIR}/tests/integration/agents.cmake
    ${CMAKE_SOURCE_DIR}/tests/integration/backends.cmake
    ${CMAKE_SOURCE_DIR}/tests/integration/epmd.cmake
    ${CMAKE_SOURCE_DIR}/tests/docker/docker.cmake)
  include(${part} OPTIONAL)
endforeach()
