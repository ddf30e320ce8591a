# Package test: install evstore into a private prefix, then build and run a separate
# project (consumer/) that finds it with find_package(evstore) and links evstore::engine.
#
#   cmake -DSOURCE_DIR=<repo> -DWORK_DIR=<scratch dir> [-DGENERATOR=<generator>] -P run.cmake
#
# Layout under WORK_DIR: build/ (the evstore build, kept between runs so reruns are
# incremental), prefix/ (the install), consumer-build/ (the consumer project).
cmake_minimum_required(VERSION 3.25)

foreach(var SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run.cmake: -D${var}=... is required")
  endif()
endforeach()
get_filename_component(SOURCE_DIR "${SOURCE_DIR}" ABSOLUTE)
get_filename_component(WORK_DIR "${WORK_DIR}" ABSOLUTE)
if(NOT EXISTS "${SOURCE_DIR}/CMakeLists.txt" OR NOT EXISTS "${SOURCE_DIR}/tests/package/consumer/CMakeLists.txt")
  message(FATAL_ERROR "run.cmake: ${SOURCE_DIR} is not the evstore source tree")
endif()

set(build_dir "${WORK_DIR}/build")
set(prefix_dir "${WORK_DIR}/prefix")
set(consumer_build_dir "${WORK_DIR}/consumer-build")

set(generator_args)
if(DEFINED GENERATOR AND NOT "${GENERATOR}" STREQUAL "")
  list(APPEND generator_args -G "${GENERATOR}")
  # A build tree made by another generator cannot be reconfigured with this one.
  if(EXISTS "${build_dir}/CMakeCache.txt")
    file(STRINGS "${build_dir}/CMakeCache.txt" cached_generator REGEX "^CMAKE_GENERATOR:INTERNAL=")
    if(NOT cached_generator STREQUAL "CMAKE_GENERATOR:INTERNAL=${GENERATOR}")
      file(REMOVE_RECURSE "${build_dir}")
    endif()
  endif()
endif()

if(DEFINED ENV{CMAKE_BUILD_PARALLEL_LEVEL} AND NOT "$ENV{CMAKE_BUILD_PARALLEL_LEVEL}" STREQUAL "")
  set(parallel "$ENV{CMAKE_BUILD_PARALLEL_LEVEL}")
else()
  set(parallel 2)
endif()

# The install and the consumer are made fresh every run: nothing stale can satisfy find_package.
file(REMOVE_RECURSE "${prefix_dir}" "${consumer_build_dir}")
file(MAKE_DIRECTORY "${WORK_DIR}")

# step(NAME COMMAND...): runs one command; any non-zero exit fails the test.
function(step name)
  message(STATUS "package test: ${name}")
  execute_process(COMMAND ${ARGN}
                  RESULT_VARIABLE result
                  COMMAND_ERROR_IS_FATAL ANY)
  if(NOT result STREQUAL "0")
    message(FATAL_ERROR "package test: ${name} failed (${result})")
  endif()
endfunction()

step("configure evstore"
  "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${build_dir}" ${generator_args}
    -DCMAKE_BUILD_TYPE=Release
    -DEVSTORE_BUILD_TESTS=OFF
    -DEVSTORE_BUILD_BENCH=OFF
    # The package is the engine: the server's Beast build would only make this test slow.
    -DEVSTORE_BUILD_SERVER=OFF
    "-DCMAKE_INSTALL_PREFIX=${prefix_dir}")
step("build and install evstore"
  "${CMAKE_COMMAND}" --build "${build_dir}" --config Release --target install --parallel ${parallel})

if(NOT EXISTS "${prefix_dir}/lib/cmake/evstore/evstoreConfig.cmake")
  message(FATAL_ERROR "package test: the install has no lib/cmake/evstore/evstoreConfig.cmake")
endif()

# The test doubles (evstore::testing) are not product code: the install must not carry them.
file(GLOB_RECURSE installed_doubles "${prefix_dir}/include/*file_system.hpp" "${prefix_dir}/lib/*evstore_testing*")
list(FILTER installed_doubles EXCLUDE REGEX "/include/evstore/file_system\\.hpp$")
if(EXISTS "${prefix_dir}/include/evstore/testing" OR installed_doubles)
  message(FATAL_ERROR "package test: the install carries test doubles: ${installed_doubles}")
endif()

step("configure the consumer project"
  "${CMAKE_COMMAND}" -S "${SOURCE_DIR}/tests/package/consumer" -B "${consumer_build_dir}" ${generator_args}
    -DCMAKE_BUILD_TYPE=Release
    "-DCMAKE_PREFIX_PATH=${prefix_dir}"
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
step("build the consumer project"
  "${CMAKE_COMMAND}" --build "${consumer_build_dir}" --config Release --parallel ${parallel})

# Single-config generators put the program in the build dir, multi-config ones in Release/.
set(app "")
foreach(candidate "${consumer_build_dir}/app" "${consumer_build_dir}/Release/app")
  if(EXISTS "${candidate}")
    set(app "${candidate}")
    break()
  endif()
endforeach()
if(app STREQUAL "")
  message(FATAL_ERROR "package test: the consumer build produced no 'app' executable")
endif()

message(STATUS "package test: run ${app}")
execute_process(COMMAND "${app}"
                RESULT_VARIABLE result
                OUTPUT_VARIABLE output
                ECHO_OUTPUT_VARIABLE
                COMMAND_ERROR_IS_FATAL ANY)
if(NOT result STREQUAL "0")
  message(FATAL_ERROR "package test: the consumer exited with ${result}")
endif()
if(NOT output MATCHES "package consumer ok")
  message(FATAL_ERROR "package test: the consumer did not print 'package consumer ok'")
endif()
message(STATUS "package test: passed")
