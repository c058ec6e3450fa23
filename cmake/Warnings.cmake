# Compiler warnings (docs/style: -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wformat=2
# -Wstrict-prototypes -Wmissing-prototypes) and the build types Debug, Release and Sanitize.
set(TREATY_WARNINGS
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wformat=2
    -Wstrict-prototypes -Wmissing-prototypes)
if(TREATY_WERROR)
  list(APPEND TREATY_WARNINGS -Werror)
endif()

set(CMAKE_C_FLAGS_DEBUG "-O0 -g3")
set(CMAKE_C_FLAGS_RELEASE "-O2 -g")
set(TREATY_SAN_FLAGS "-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer")
set(CMAKE_C_FLAGS_SANITIZE "-O1 -g ${TREATY_SAN_FLAGS}")
set(CMAKE_EXE_LINKER_FLAGS_SANITIZE "${TREATY_SAN_FLAGS}")
set(CMAKE_SHARED_LINKER_FLAGS_SANITIZE "${TREATY_SAN_FLAGS}")

# treaty_target(NAME): applies the project's warnings to one target.
function(treaty_target name)
  target_compile_options(${name} PRIVATE ${TREATY_WARNINGS})
  target_compile_definitions(${name} PRIVATE _POSIX_C_SOURCE=200809L)
  # __FILE__ in assert messages relative to the source tree, not to the building machine.
  target_compile_options(${name} PRIVATE -fmacro-prefix-map=${CMAKE_SOURCE_DIR}/=)
endfunction()
