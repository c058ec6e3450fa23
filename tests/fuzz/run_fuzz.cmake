# run_fuzz.cmake — one ctest run of a libFuzzer target: copies the committed corpus to WORK (the
# fuzzer adds inputs to its corpus directory; the committed one must never change), fuzzes for
# SECONDS, and fails on any finding. Crash inputs are left in WORK/artifacts/ for triage: copy one
# into tests/fuzz/corpus/<target>/ to make it a regression case of every build.
# Usage: cmake -DFUZZER=exe -DCORPUS=dir -DWORK=dir -DDICT=file -DSECONDS=n -P run_fuzz.cmake
# (DICT may be empty: no dictionary.)
foreach(var FUZZER CORPUS WORK SECONDS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzz.cmake: ${var} not set")
  endif()
endforeach()

file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/artifacts)
file(COPY ${CORPUS}/ DESTINATION ${WORK}/corpus)

set(dict_arg "")
if(DICT)
  set(dict_arg -dict=${DICT})
endif()
execute_process(
  COMMAND ${FUZZER} -max_total_time=${SECONDS} -timeout=10 -rss_limit_mb=2048 ${dict_arg}
          -print_final_stats=1 -artifact_prefix=${WORK}/artifacts/ ${WORK}/corpus
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${FUZZER}: finding (exit ${rc}); inputs in ${WORK}/artifacts/")
endif()
