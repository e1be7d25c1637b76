# The operable daemon (issue 13): tests/ops/test_ops.py against real agents
# on loopback, one CTest per part (the name-substring argument picks the
# test class). Included by tests/integration/tests.cmake.
#
# RUN_SERIAL: the hook test bounds the gap between sweeps while a hook
# hangs, and the readiness test stops and restarts a real redis-server.
# The system Python: python3-prometheus-client (tests/run.sh PKGS) is
# installed for it, not for a pyenv or venv that may come first in PATH.
if(EXISTS /usr/bin/python3)
  set(_rc_ops_python /usr/bin/python3)
else()
  set(_rc_ops_python python3)
endif()

foreach(part Endpoint Readiness Hooks Monitor Systemd Addresses)
  string(TOLOWER ${part} _rc_ops_name)
  add_test(NAME ops/${_rc_ops_name}
           COMMAND ${_rc_ops_python} ${CMAKE_CURRENT_LIST_DIR}/test_ops.py $<TARGET_FILE:rollcall>
                   Test${part})
  set_tests_properties(ops/${_rc_ops_name} PROPERTIES
                       LABELS integration
                       TIMEOUT 300
                       RUN_SERIAL TRUE)
endforeach()
