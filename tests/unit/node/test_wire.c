/* test_wire.c — suite `wire` for node/wire.c: Raft, Forward and read-index frames survive an
 * encode/decode round trip field for field, and bytes that are not a known frame are refused. */
#include "node/wire.h"

#include "common/alloc.h"
#include "common/err.h"

#include <check.h>
#include <stdint.h>
#include <string.h>

Suite *suite_wire(void);

START_TEST(read_index_frames_round_trip)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    struct wire_frame f;
    ck_assert_int_eq(wire_encode_read_req(UINT64_MAX - 3, &buf, &len), TR_OK);
    ck_assert_int_eq(wire_decode(buf, len, &f), TR_OK);
    ck_assert_int_eq(f.kind, WIRE_READ_REQ);
    ck_assert_uint_eq(f.read_id, UINT64_MAX - 3);
    wire_frame_free(&f);
    tr_free(buf);
    ck_assert_int_eq(wire_encode_read_resp(7, 123456789, true, &buf, &len), TR_OK);
    ck_assert_int_eq(wire_decode(buf, len, &f), TR_OK);
    ck_assert_int_eq(f.kind, WIRE_READ_RESP);
    ck_assert_uint_eq(f.read_id, 7);
    ck_assert_uint_eq(f.read_index, 123456789);
    ck_assert(f.read_ok);
    wire_frame_free(&f);
    tr_free(buf);
    ck_assert_int_eq(wire_encode_read_resp(8, 0, false, &buf, &len), TR_OK);
    ck_assert_int_eq(wire_decode(buf, len, &f), TR_OK);
    ck_assert_int_eq(f.kind, WIRE_READ_RESP);
    ck_assert_uint_eq(f.read_id, 8);
    ck_assert(!f.read_ok);
    wire_frame_free(&f);
    tr_free(buf);
}
END_TEST

START_TEST(raft_and_forward_frames_round_trip)
{
    uint8_t data[3] = {1, 2, 3}, *buf = NULL;
    size_t len = 0;
    struct raft_entry e = {5, 2, RAFT_ENTRY_NORMAL, data, sizeof data};
    struct raft_msg m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_APPEND;
    m.from = 11;
    m.to = 12;
    m.term = 2;
    m.index = 4;
    m.commit = 3;
    m.entries = &e;
    m.n_entries = 1;
    struct wire_frame f;
    ck_assert_int_eq(wire_encode_raft(&m, &buf, &len), TR_OK);
    ck_assert(wire_maybe_raft(buf, len));
    ck_assert(!wire_maybe_raft(buf, 0));
    ck_assert_int_eq(wire_decode(buf, len, &f), TR_OK);
    ck_assert_int_eq(f.kind, WIRE_RAFT);
    ck_assert_uint_eq(f.raft.from, 11);
    ck_assert_uint_eq(f.raft.commit, 3);
    ck_assert_uint_eq(f.raft.n_entries, 1);
    ck_assert_uint_eq(f.raft.entries[0].len, 3);
    ck_assert_int_eq(memcmp(f.raft.entries[0].data, data, 3), 0);
    wire_frame_free(&f);
    tr_free(buf);
    ck_assert_int_eq(wire_encode_forward(data, sizeof data, &buf, &len), TR_OK);
    ck_assert(!wire_maybe_raft(buf, len));
    ck_assert_int_eq(wire_decode(buf, len, &f), TR_OK);
    ck_assert_int_eq(f.kind, WIRE_FORWARD);
    ck_assert_uint_eq(f.entry_len, 3);
    wire_frame_free(&f);
    tr_free(buf);
}
END_TEST

/* Frames stay within their documented overheads with every field at its largest. */
START_TEST(frame_overheads_bound_the_size)
{
    static uint8_t data[70000];
    struct raft_entry e[64];
    size_t sizes[] = {0, 1, 127, 128, 16383, 16384, sizeof data};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        for (size_t n = 1; n <= 64; n += 21) {
            struct raft_msg m;
            memset(&m, 0xff, sizeof m);
            m.type = RAFT_MSG_APPEND;
            size_t total = 0;
            for (size_t i = 0; i < n; i++) {
                e[i] = (struct raft_entry){UINT64_MAX - i, UINT64_MAX, RAFT_ENTRY_NORMAL, data,
                                           sizes[(k + i) % (sizeof sizes / sizeof sizes[0])]};
                total += e[i].len;
            }
            m.entries = e;
            m.n_entries = n;
            uint8_t *buf = NULL;
            size_t len = 0;
            ck_assert_int_eq(wire_encode_raft(&m, &buf, &len), TR_OK);
            ck_assert_msg(len <= total + WIRE_RAFT_OVERHEAD + n * WIRE_ENTRY_OVERHEAD,
                          "%zu entries of %zu bytes: frame of %zu", n, total, len);
            tr_free(buf);
        }
        uint8_t *buf = NULL;
        size_t len = 0;
        ck_assert_int_eq(wire_encode_forward(data, sizes[k], &buf, &len), TR_OK);
        ck_assert_uint_le(len, sizes[k] + WIRE_RAFT_OVERHEAD);
        tr_free(buf);
    }
}
END_TEST

START_TEST(unknown_bytes_are_refused)
{
    static const uint8_t empty_frame[1] = {0};
    static const uint8_t garbage[4] = {0xff, 0xff, 0xff, 0xff};
    struct wire_frame f;
    ck_assert_int_eq(wire_decode(empty_frame, 0, &f), TR_EPARSE); /* a Frame with no body */
    ck_assert_int_eq(wire_decode(garbage, sizeof garbage, &f), TR_EPARSE);
    ck_assert_ptr_null(f.priv_);
}
END_TEST

Suite *suite_wire(void)
{
    Suite *s = suite_create("wire");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, read_index_frames_round_trip);
    tcase_add_test(tc, raft_and_forward_frames_round_trip);
    tcase_add_test(tc, unknown_bytes_are_refused);
    tcase_add_test(tc, frame_overheads_bound_the_size);
    suite_add_tcase(s, tc);
    return s;
}
