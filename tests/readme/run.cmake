# readme.first_example (see CMakeLists.txt): builds the example, runs it in an empty
# WORK_DIR (it opens ./data) and checks with the CLI that ./data holds its two events.
#
#   cmake -DBUILD_DIR=<build> -DEXAMPLE=<binary> -DCLI=<evstore> -DWORK_DIR=<scratch> -P run.cmake
cmake_minimum_required(VERSION 3.25)

foreach(var BUILD_DIR EXAMPLE CLI WORK_DIR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run.cmake: -D${var}=... is required")
  endif()
endforeach()

execute_process(COMMAND ${CMAKE_COMMAND} --build "${BUILD_DIR}" --target readme_first_example
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "README.md's first C++ example does not compile (errors above name its lines)")
endif()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
execute_process(COMMAND "${EXAMPLE}" WORKING_DIRECTORY "${WORK_DIR}" RESULT_VARIABLE rc
                OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the example exited with ${rc}\nstdout: ${out}\nstderr: ${err}")
endif()

# What the example appended: CartOpened then ItemAdded (with its id) to cart-1.
execute_process(COMMAND "${CLI}" cat data cart-1 WORKING_DIRECTORY "${WORK_DIR}" RESULT_VARIABLE rc
                OUTPUT_VARIABLE events ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "evstore cat data cart-1 exited with ${rc}: ${err}")
endif()
message(STATUS "cart-1 after the example:\n${events}")
string(REGEX MATCHALL "[^\n]+" lines "${events}")
list(LENGTH lines count)
if(NOT count EQUAL 2)
  message(FATAL_ERROR "expected the example's 2 events in cart-1, found ${count}")
endif()
list(GET lines 0 first)
list(GET lines 1 second)
if(NOT first MATCHES "\"type\":\"CartOpened\"" OR NOT first MATCHES "\"customer\":\"c-42\"")
  message(FATAL_ERROR "cart-1's first event is not the example's CartOpened: ${first}")
endif()
if(NOT second MATCHES "\"type\":\"ItemAdded\"" OR NOT second MATCHES "\"sku\":\"book-1\""
   OR NOT second MATCHES "\"id\":\"[0-9a-f-]+\"")
  message(FATAL_ERROR "cart-1's second event is not the example's ItemAdded with its id: ${second}")
endif()
