# RPC wire layer (rpc_codec, mpjson, rpc_chan), and the replay of every fuzz seed corpus
# in the ordinary build: fuzz/replay.c calls each driver's LLVMFuzzerTestOneInput on every
# file of fuzz/corpus/<target>, so a seed that once crashed keeps being run without
# libFuzzer (STYLE 2.11).

cb_unit_test(test_rpc_codec unit/test_rpc_codec.c)
cb_unit_test(test_mpjson unit/test_mpjson.c)
cb_unit_test(test_rpc_chan unit/test_rpc_chan.c)

set(CB_FUZZ_DIR ${PROJECT_SOURCE_DIR}/fuzz)

# cb_fuzz_replay(target): fuzz_replay.<target>, if fuzz/<target>.c and its corpus exist
# (other modules' drivers may not be written yet).
function(cb_fuzz_replay target)
    set(driver ${CB_FUZZ_DIR}/${target}.c)
    set(corpus ${CB_FUZZ_DIR}/corpus/${target})
    if(NOT EXISTS ${driver} OR NOT IS_DIRECTORY ${corpus})
        message(STATUS "fuzz_replay.${target}: no driver or corpus yet, not registered")
        return()
    endif()
    add_executable(replay_${target} ${driver} ${CB_FUZZ_DIR}/replay.c)
    target_include_directories(replay_${target} PRIVATE ${CB_FUZZ_DIR})
    target_compile_options(replay_${target} PRIVATE -include ${CB_FUZZ_DIR}/fuzz_driver.h)
    target_link_libraries(replay_${target} PRIVATE cb_common)
    add_test(NAME fuzz_replay.${target} COMMAND replay_${target} ${corpus})
    set_tests_properties(fuzz_replay.${target} PROPERTIES LABELS "unit;fuzz-smoke" TIMEOUT 120)
endfunction()

foreach(t fuzz_rpc_decode fuzz_rpc_stream fuzz_pem_upload fuzz_cfg fuzz_apidef_token)
    cb_fuzz_replay(${t})
endforeach()
