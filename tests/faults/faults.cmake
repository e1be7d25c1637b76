# Fault, security and memcheck tests (issue 5). Included by
# tests/integration/tests.cmake; every test here has LABELS integration.
#
# faults/network    hostile peers: silent, 2^32-1 prefix, garbage, 2000
#                   connections to the dist port and the embedded EPMD,
#                   wrong-cookie flood (test_network.py)
# faults/registry   unreadable / full registry, SIGTERM in a sweep, a
#                   registry write and a handshake (test_registry.py)
# faults/security   cookie never shown, cookie file mode, ALIVE2 from a
#                   non-loopback address (netns), escaped names (test_security.py)
# faults/store_*    redis / postgres / s3 SIGSTOPped and killed (test_stores.py)
# valgrind/agent    the agent in a small cluster under memcheck
#
# RUN_SERIAL: these measure latency, CPU and memory of the agent under
# attack, and the floods need the machine to themselves.
if(NOT Python3_EXECUTABLE)
  find_package(Python3 COMPONENTS Interpreter)
endif()
if(Python3_EXECUTABLE)
  set(_rc_faults_python ${Python3_EXECUTABLE})
else()
  set(_rc_faults_python python3)
endif()
set(_rc_faults_dir ${CMAKE_SOURCE_DIR}/tests/faults)

foreach(suite network registry security)
  add_test(NAME faults/${suite}
           COMMAND ${_rc_faults_python} ${_rc_faults_dir}/test_${suite}.py $<TARGET_FILE:rollcall>)
  set_tests_properties(faults/${suite} PROPERTIES LABELS integration TIMEOUT 300 RUN_SERIAL TRUE)
endforeach()

foreach(kind redis postgres s3)
  # s3: the first run may build MinIO (tests/integration/servers/start-minio.sh).
  if(kind STREQUAL "s3")
    set(_rc_faults_timeout 3600)
    set(_rc_faults_labels "integration;minio") # run last by tests/run.sh
  else()
    set(_rc_faults_timeout 300)
    set(_rc_faults_labels integration)
  endif()
  add_test(NAME faults/store_${kind}
           COMMAND ${_rc_faults_python} ${_rc_faults_dir}/test_stores.py $<TARGET_FILE:rollcall> ${kind})
  set_tests_properties(faults/store_${kind} PROPERTIES LABELS "${_rc_faults_labels}" RUN_SERIAL TRUE
                       TIMEOUT ${_rc_faults_timeout})
endforeach()

# valgrind cannot run an ASan binary: with ROLLCALL_SANITIZE the test gets a
# plain build of the same sources (sanitizers switched off per target).
if(ROLLCALL_SANITIZE)
  # The program's own sources (the backend modules are loaded, as usual).
  set(_rc_vg_sources ${BASE_SOURCES} ${STORE_SOURCES} ${CORE_SOURCES}
      ${CMAKE_SOURCE_DIR}/agent/main.c)
  add_executable(rollcall_vg ${_rc_vg_sources})
  target_include_directories(rollcall_vg PRIVATE ${CMAKE_SOURCE_DIR}/include)
  target_compile_options(rollcall_vg PRIVATE -fno-sanitize=all)
  target_link_options(rollcall_vg PRIVATE -fno-sanitize=all)
  target_compile_definitions(rollcall_vg PRIVATE RC_MODULE_DIR_DEFAULT="${ROLLCALL_MODULE_DIR}")
  target_link_libraries(rollcall_vg PRIVATE PkgConfig::LIBEVENT PkgConfig::INIH Threads::Threads
                        ${CMAKE_DL_LIBS})
  set(_rc_vg_binary $<TARGET_FILE:rollcall_vg>)
else()
  set(_rc_vg_binary $<TARGET_FILE:rollcall>)
endif()
add_test(NAME valgrind/agent
         COMMAND ${_rc_faults_python} ${CMAKE_SOURCE_DIR}/tests/valgrind/test_valgrind.py ${_rc_vg_binary})
set_tests_properties(valgrind/agent PROPERTIES LABELS integration TIMEOUT 300 RUN_SERIAL TRUE)
