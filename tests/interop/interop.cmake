# The interop suite (issue 14): tests/interop/test_interop.py against OTP 25
# (this machine's erl: label integration) and OTP 27 / 29 (the images
# tests/interop/build-otp-image.sh builds: label docker). Each release is
# split into parts of under a minute. Included by tests/integration/tests.cmake.
#
# A docker part exits 77 (skipped) only when no Docker engine answers.
# RUN_SERIAL: the simultaneous-connect loop and the tick tests time things.
# The docker parts wait for an image build under way (tests/run.sh starts
# them in the background) or build it: hence their long TIMEOUT.
if(NOT Python3_EXECUTABLE)
  find_package(Python3 COMPONENTS Interpreter)
endif()
if(Python3_EXECUTABLE)
  set(_rc_interop_python ${Python3_EXECUTABLE})
else()
  set(_rc_interop_python python3)
endif()

set(_rc_interop_parts
    "basic:test_01 test_02 test_03 test_04"
    "elixir:test_13"
    "simultaneous:test_05"
    "ticks:test_06 test_07"
    "ipv6:test_08 test_09 test_10"
    "tls:test_11 test_12")
foreach(rel host 27 29)
  if(rel STREQUAL "host")
    set(_otp otp25)
    set(_label integration)
    set(_timeout 180)
  else()
    set(_otp otp${rel})
    set(_label docker)
    set(_timeout 1200)
  endif()
  foreach(part ${_rc_interop_parts})
    string(REPLACE ":" ";" _pp "${part}")
    list(GET _pp 0 _name)
    list(GET _pp 1 _tests)
    separate_arguments(_tests)
    add_test(NAME interop/${_otp}_${_name}
             COMMAND ${_rc_interop_python} ${CMAKE_CURRENT_LIST_DIR}/test_interop.py
                     $<TARGET_FILE:rollcall> ${rel} ${_tests})
    set_tests_properties(interop/${_otp}_${_name} PROPERTIES
                         LABELS ${_label} TIMEOUT ${_timeout} RUN_SERIAL TRUE
                         SKIP_RETURN_CODE 77)
  endforeach()
endforeach()
