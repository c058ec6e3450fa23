# run_fuzz.cmake — one ctest run of a libFuzzer target: copies the committed corpus to WORK (the
# fuzzer adds inputs to its corpus directory; the committed one must never change), fuzzes for
# SECONDS, and fails on any finding. Crash inputs are left in WORK/artifacts/ for triage: copy one
# into tests/fuzz/corpus/<target>/ to make it a regression case of every build.
#
# libFuzzer's -timeout counts wall-clock time, and CI runs the fuzzers at the lowest priority on
# cores the other suites keep busy: a process that waits for a core long enough looks like a hung
# input. So a timeout is a finding only when its input, run again alone, takes longer than
# TIMEOUT again (a real hang or a pathological input does; a stall does not). A stall is reported
# and fuzzing resumes for the seconds that remain, at most MAX_STALLS times.
# Usage: cmake -DFUZZER=exe -DCORPUS=dir -DWORK=dir -DDICT=file -DSECONDS=n -P run_fuzz.cmake
# (DICT may be empty: no dictionary. Optional: -DTIMEOUT=s (10), -DMAX_STALLS=n (2).)
cmake_minimum_required(VERSION 3.25)
foreach(var FUZZER CORPUS WORK SECONDS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzz.cmake: ${var} not set")
  endif()
endforeach()
if(NOT DEFINED TIMEOUT)
  set(TIMEOUT 10)
endif()
if(NOT DEFINED MAX_STALLS)
  set(MAX_STALLS 2)
endif()

file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/artifacts ${WORK}/stalls)
file(COPY ${CORPUS}/ DESTINATION ${WORK}/corpus)

set(dict_arg "")
if(DICT)
  set(dict_arg -dict=${DICT})
endif()
# libFuzzer's exit code for an input that ran past -timeout (its -timeout_exitcode default).
set(timeout_rc 70)

string(TIMESTAMP start "%s")
set(stalls 0)
set(remaining ${SECONDS})
while(TRUE)
  execute_process(
    COMMAND ${FUZZER} -max_total_time=${remaining} -timeout=${TIMEOUT} -rss_limit_mb=2048
            ${dict_arg} -print_final_stats=1 -artifact_prefix=${WORK}/artifacts/ ${WORK}/corpus
    RESULT_VARIABLE rc)
  if(rc EQUAL 0)
    break()
  endif()
  file(GLOB hung ${WORK}/artifacts/timeout-*)
  if(NOT rc EQUAL timeout_rc OR NOT hung)
    message(FATAL_ERROR "${FUZZER}: finding (exit ${rc}); inputs in ${WORK}/artifacts/")
  endif()
  foreach(input ${hung})
    execute_process(COMMAND ${FUZZER} -timeout=${TIMEOUT} ${input}
                    RESULT_VARIABLE replay_rc OUTPUT_VARIABLE replay_out ERROR_VARIABLE replay_out)
    if(NOT replay_rc EQUAL 0)
      message(FATAL_ERROR "${FUZZER}: finding: ${input} ran past ${TIMEOUT} s, and again when "
                          "run alone (exit ${replay_rc}):\n${replay_out}")
    endif()
    string(REGEX MATCH "Executed [^\n]*" executed "${replay_out}")
    get_filename_component(name ${input} NAME)
    file(RENAME ${input} ${WORK}/stalls/${name})
    message(STATUS "run_fuzz: ${name} ran past ${TIMEOUT} s of wall-clock time while fuzzing, "
                   "but alone: ${executed} — the process stalled (no finding; kept in "
                   "${WORK}/stalls/)")
  endforeach()
  math(EXPR stalls "${stalls} + 1")
  if(stalls GREATER MAX_STALLS)
    message(FATAL_ERROR "${FUZZER}: stalled past ${TIMEOUT} s ${stalls} times in one run; the "
                        "machine is too loaded for this run to mean anything")
  endif()
  string(TIMESTAMP now "%s")
  math(EXPR remaining "${SECONDS} - (${now} - ${start})")
  if(remaining LESS 1)
    break()
  endif()
  message(STATUS "run_fuzz: fuzzing resumes for the ${remaining} s that remain")
endwhile()
