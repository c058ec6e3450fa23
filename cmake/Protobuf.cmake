# treaty_protobuf(TARGET PROTO...): runs protoc-c on each .proto (paths relative to the calling
# folder) into the build tree and adds the generated .pb-c.c files to TARGET. Generated headers
# are included as "<folder>/<name>.pb-c.h" (e.g. "node/ledger.pb-c.h").
function(treaty_protobuf target)
  file(RELATIVE_PATH rel ${CMAKE_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
  set(out_dir ${CMAKE_BINARY_DIR}/gen/${rel})
  file(MAKE_DIRECTORY ${out_dir})
  foreach(proto ${ARGN})
    get_filename_component(name ${proto} NAME_WE)
    set(src ${CMAKE_CURRENT_SOURCE_DIR}/${proto})
    add_custom_command(
      OUTPUT ${out_dir}/${name}.pb-c.c ${out_dir}/${name}.pb-c.h
      COMMAND ${PROTOC_C} --proto_path=${CMAKE_SOURCE_DIR} --c_out=${CMAKE_BINARY_DIR}/gen ${src}
      DEPENDS ${src}
      COMMENT "protoc-c ${rel}/${proto}")
    # Generated code is not ours to warn about.
    set_source_files_properties(${out_dir}/${name}.pb-c.c PROPERTIES COMPILE_OPTIONS "-w")
    target_sources(${target} PRIVATE ${out_dir}/${name}.pb-c.c ${out_dir}/${name}.pb-c.h)
  endforeach()
  target_include_directories(${target} PUBLIC ${CMAKE_BINARY_DIR}/gen)
endfunction()
