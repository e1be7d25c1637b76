# Registry backend integration tests (issue 6). Included by
# tests/integration/tests.cmake.
#
# integration/backend_<kind>: the conformance suite (conformance.c) against a
# private server started for the test (servers/start-<kind>.sh), with an
# outage in the middle (server stopped, then restarted on the same port).
# A server that cannot be started fails the test; it never passes silently.
# backend_s3-sts is the S3 suite again with temporary credentials (MinIO's
# AssumeRole) from the environment: the session-token path. The first S3 run
# builds MinIO with Go (cached in ~/.cache/rollcall/bin), hence the long
# timeout.
#
# integration/backend_agents_<kind>: three rollcall agents on 127.0.0.x
# sharing one registry of that kind (test_backend_agents.py).
add_executable(conformance ${CMAKE_CURRENT_LIST_DIR}/conformance.c)
target_link_libraries(conformance PRIVATE rollcall_core rollcall_backend_libs rollcall_backend_redis
                      rollcall_backend_postgres rollcall_backend_s3)

if(NOT Python3_EXECUTABLE)
  find_package(Python3 COMPONENTS Interpreter)
endif()
if(Python3_EXECUTABLE)
  set(_rc_backend_python ${Python3_EXECUTABLE})
else()
  set(_rc_backend_python python3)
endif()

foreach(kind file redis postgres s3 s3-sts)
  # s3: label minio too, so that tests/run.sh runs them last, when the
  # background MinIO build of a bare machine is done
  if(kind MATCHES "^s3")
    set(_rc_timeout 3600)
    set(_rc_labels "integration;minio")
  else()
    set(_rc_timeout 600)
    set(_rc_labels integration)
  endif()
  add_test(NAME integration/backend_${kind}
           COMMAND ${CMAKE_CURRENT_LIST_DIR}/servers/run-conformance.sh ${kind}
                   $<TARGET_FILE:conformance>)
  set_tests_properties(integration/backend_${kind} PROPERTIES
                       LABELS "${_rc_labels}"
                       TIMEOUT ${_rc_timeout})
  if(kind STREQUAL "s3-sts")
    continue()
  endif()
  add_test(NAME integration/backend_agents_${kind}
           COMMAND ${_rc_backend_python} ${CMAKE_CURRENT_LIST_DIR}/test_backend_agents.py
                   $<TARGET_FILE:rollcall> ${kind})
  set_tests_properties(integration/backend_agents_${kind} PROPERTIES
                       LABELS "${_rc_labels}"
                       TIMEOUT ${_rc_timeout}
                       RUN_SERIAL TRUE)
endforeach()
