# Run at every build of cmap-bench (bench/CMakeLists.txt, bench_gitrev):
# writes OUT with the source tree's git revision, touching it only when
# the revision changed, so a commit shows up in --version and the context
# block without a reconfigure.  "unknown" outside a git checkout.
set(rev unknown)
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} describe --always --dirty
                  WORKING_DIRECTORY ${SRC}
                  OUTPUT_VARIABLE out OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE rc ERROR_QUIET)
  if(rc EQUAL 0 AND NOT out STREQUAL "")
    set(rev ${out})
  endif()
endif()
set(text "#define BENCH_GIT_REV \"${rev}\"\n")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
else()
  set(old "")
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUT} "${text}")
endif()
