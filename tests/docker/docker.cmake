# Docker tests (label `docker`): real containers built from docker/Dockerfile
# and run by docker-compose.yml.  include()d from the top CMakeLists.txt.
#
# docker/image builds the images once (fixture); the cases share the engine and
# its two cores, so they run one at a time (RESOURCE_LOCK) even under ctest -j.
# Each exits 77 -> SKIPPED only when no Docker engine is reachable.
find_program(ROLLCALL_PYTHON3 python3)
if(NOT ROLLCALL_PYTHON3)
  message(STATUS "python3 not found: docker tests not registered")
  return()
endif()

set(_rc_docker_cases scale5 scale_down kill partition beam redis)
set(_rc_docker_script ${CMAKE_CURRENT_LIST_DIR}/dockertest.py)

add_test(NAME docker/image COMMAND ${ROLLCALL_PYTHON3} ${_rc_docker_script} image
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
# The first run may debootstrap the base image and apt-install the toolchain.
set_tests_properties(docker/image PROPERTIES LABELS docker TIMEOUT 1500
                     SKIP_RETURN_CODE 77 FIXTURES_SETUP rollcall_docker_images
                     RESOURCE_LOCK rollcall_docker)

foreach(_case ${_rc_docker_cases})
  add_test(NAME docker/${_case} COMMAND ${ROLLCALL_PYTHON3} ${_rc_docker_script} ${_case}
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(docker/${_case} PROPERTIES LABELS docker TIMEOUT 240
                       SKIP_RETURN_CODE 77 FIXTURES_REQUIRED rollcall_docker_images
                       RESOURCE_LOCK rollcall_docker)
endforeach()
