# App mode (docs/app.md): tests/app/test_app.py against real erl and elixir
# apps on 127.0.0.2-4 (label integration), and the compose profile `app`
# (tests/docker/test_app.py, label docker), and the OTP 27 / 29 apps below.
# Included by tests/integration/tests.cmake.
#
# RUN_SERIAL: its bounds (a full mesh within two intervals of the last app
# start, a killed app withdrawn within one) are part of what it checks.
if(NOT Python3_EXECUTABLE)
  find_package(Python3 COMPONENTS Interpreter)
endif()
if(Python3_EXECUTABLE)
  set(_rc_app_python ${Python3_EXECUTABLE})
else()
  set(_rc_app_python python3)
endif()

add_test(NAME integration/app
         COMMAND ${_rc_app_python} ${CMAKE_CURRENT_LIST_DIR}/test_app.py $<TARGET_FILE:rollcall>)
set_tests_properties(integration/app PROPERTIES LABELS integration TIMEOUT 600 RUN_SERIAL TRUE)

add_test(NAME docker/app COMMAND ${_rc_app_python} ${CMAKE_SOURCE_DIR}/tests/docker/test_app.py
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(docker/app PROPERTIES LABELS docker TIMEOUT 1800 SKIP_RETURN_CODE 77
                     FIXTURES_REQUIRED rollcall_docker_images RESOURCE_LOCK rollcall_docker)

# The same scenario with plain `erl -name` apps of OTP 27 and OTP 29 (the
# images of tests/interop/build-otp-image.sh; the agents run from this
# build in the container's network namespace): tests/app/test_app_otp.py.
# Label docker; waits for an image build under way (its lock) or builds it,
# hence the long TIMEOUT; the test itself takes under a minute.
foreach(rel 27 29)
  add_test(NAME docker/app_otp${rel}
           COMMAND ${_rc_app_python} ${CMAKE_CURRENT_LIST_DIR}/test_app_otp.py
                   $<TARGET_FILE:rollcall> ${rel})
  set_tests_properties(docker/app_otp${rel} PROPERTIES LABELS docker TIMEOUT 1200
                       RUN_SERIAL TRUE SKIP_RETURN_CODE 77)
endforeach()
