/* UTF-16 / UTF-32 samples to UTF-8: bc_sample_utf8 and bc_utf8_put. */
#include "report.h"
#include "tap.h"

#include <string.h>

#define GUARD 0xA5

static char out[BC_SAMPLE_MAX + 16];

/* Sample a UTF-16 string of N units (BYTES bytes given explicitly). */
static uint32_t sample16(const uint16_t *s, uint32_t bytes)
{
    memset(out, GUARD, sizeof out);
    return bc_sample_utf8(s, bytes, 2, out, BC_SAMPLE_MAX);
}

static uint32_t sample32(const uint32_t *s, uint32_t bytes)
{
    memset(out, GUARD, sizeof out);
    return bc_sample_utf8(s, bytes, 4, out, BC_SAMPLE_MAX);
}

#define EXPECT(len, bytes, ...) tap_is_mem(out, len, bytes, sizeof(bytes) - 1, __VA_ARGS__)

int main(void)
{
    tap_plan(41);
    char buf[8];
    size_t n;

    /* bc_utf8_put (12). */
    memset(buf, GUARD, sizeof buf);
    n = bc_utf8_put('A', buf, sizeof buf);
    tap_is_mem(buf, n, "A", 1, "utf8_put U+0041 -> 41");
    n = bc_utf8_put(0xE9, buf, sizeof buf);
    tap_is_mem(buf, n, "\xC3\xA9", 2, "utf8_put U+00E9 -> C3 A9");
    n = bc_utf8_put(0x7FF, buf, sizeof buf);
    tap_is_mem(buf, n, "\xDF\xBF", 2, "utf8_put U+07FF -> DF BF");
    n = bc_utf8_put(0x4E2D, buf, sizeof buf);
    tap_is_mem(buf, n, "\xE4\xB8\xAD", 3, "utf8_put U+4E2D -> E4 B8 AD");
    n = bc_utf8_put(0x1F600, buf, sizeof buf);
    tap_is_mem(buf, n, "\xF0\x9F\x98\x80", 4, "utf8_put U+1F600 -> F0 9F 98 80");
    n = bc_utf8_put(0x10FFFF, buf, sizeof buf);
    tap_is_mem(buf, n, "\xF4\x8F\xBF\xBF", 4, "utf8_put U+10FFFF -> F4 8F BF BF");
    n = bc_utf8_put(0x110000, buf, sizeof buf);
    tap_is_mem(buf, n, "\xEF\xBF\xBD", 3, "utf8_put 0x110000 -> U+FFFD");
    n = bc_utf8_put(0xD800, buf, sizeof buf);
    tap_is_mem(buf, n, "\xEF\xBF\xBD", 3, "utf8_put surrogate D800 -> U+FFFD");
    n = bc_utf8_put(0, buf, sizeof buf);
    tap_is_mem(buf, n, "\0", 1, "utf8_put U+0000 -> one NUL byte");
    memset(buf, GUARD, sizeof buf);
    n = bc_utf8_put(0x4E2D, buf, 2);
    tap_ok(n == 0 && (unsigned char)buf[0] == GUARD && (unsigned char)buf[1] == GUARD,
           "utf8_put 3-byte char into 2 bytes of room writes nothing (n %zu)", n);
    n = bc_utf8_put(0x1F600, buf, 3);
    tap_ok(n == 0 && (unsigned char)buf[0] == GUARD, "utf8_put 4-byte char into 3 bytes: 0");
    n = bc_utf8_put('x', buf, 0);
    tap_ok(n == 0 && (unsigned char)buf[0] == GUARD, "utf8_put into 0 bytes: 0");

    /* bc_sample_utf8, width 2 (15). */
    const uint16_t ascii[] = {'H', 'e', 'l', 'l', 'o'};
    uint32_t len = sample16(ascii, sizeof ascii);
    EXPECT(len, "Hello", "ASCII UTF-16 -> Hello");
    tap_is_uint((unsigned char)out[len], GUARD, "nothing written past the returned length");

    const uint16_t bmp[] = {'c', 0xE9, 0x4E2D};
    len = sample16(bmp, sizeof bmp);
    EXPECT(len, "c\xC3\xA9\xE4\xB8\xAD", "BMP: c, U+00E9, U+4E2D");

    const uint16_t pair[] = {'<', 0xD83D, 0xDE00, '>'};
    len = sample16(pair, sizeof pair);
    EXPECT(len, "<\xF0\x9F\x98\x80>", "surrogate pair D83D DE00 -> U+1F600 (4 bytes)");

    const uint16_t lone_high[] = {'a', 0xD83D, 'b'};
    len = sample16(lone_high, sizeof lone_high);
    EXPECT(len, "a\xEF\xBF\xBD" "b", "lone high surrogate -> U+FFFD");

    const uint16_t high_at_end[] = {'a', 0xD83D};
    len = sample16(high_at_end, sizeof high_at_end);
    EXPECT(len, "a\xEF\xBF\xBD", "high surrogate as the last unit -> U+FFFD");

    const uint16_t lone_low[] = {'a', 0xDE00, 'b'};
    len = sample16(lone_low, sizeof lone_low);
    EXPECT(len, "a\xEF\xBF\xBD" "b", "lone low surrogate -> U+FFFD");

    const uint16_t reversed[] = {0xDE00, 0xD83D};
    len = sample16(reversed, sizeof reversed);
    EXPECT(len, "\xEF\xBF\xBD\xEF\xBF\xBD", "low then high surrogate -> two U+FFFD");

    const uint16_t nul[] = {'a', 0, 'b'};
    len = sample16(nul, sizeof nul);
    EXPECT(len, "a\0b", "embedded NUL kept, length 3");

    len = sample16(ascii, 5); /* 2.5 units */
    EXPECT(len, "He", "odd byte count (5) at width 2 rounds down to 2 units");

    len = sample16(ascii, 0);
    tap_is_uint(len, 0, "0 bytes -> empty sample");

    uint16_t longer[100];
    char expect64[64 + 3];
    for (int i = 0; i < 100; i++)
        longer[i] = (uint16_t)('A' + i % 26);
    for (int i = 0; i < 64; i++)
        expect64[i] = (char)('A' + i % 26);
    memcpy(expect64 + 64, "...", 3);
    len = sample16(longer, sizeof longer);
    tap_is_mem(out, len, expect64, sizeof expect64, "100 characters -> first 64 then \"...\"");

    len = sample16(longer, 64 * 2);
    tap_is_mem(out, len, expect64, 64, "exactly 64 characters -> no \"...\"");

    len = sample16(longer, 65 * 2);
    tap_is_mem(out, len, expect64, sizeof expect64, "65 characters -> 64 then \"...\"");

    /* 64 characters counted as characters, not units: 64 emoji = 128 units. */
    uint16_t emoji[2 * 70];
    for (int i = 0; i < 70; i++) {
        emoji[2 * i] = 0xD83D;
        emoji[2 * i + 1] = 0xDE00;
    }
    len = sample16(emoji, sizeof emoji);
    tap_ok(len == 64 * 4 + 3 && memcmp(out + 64 * 4, "...", 3) == 0 &&
               memcmp(out + 63 * 4, "\xF0\x9F\x98\x80", 4) == 0,
           "70 surrogate pairs -> 64 four-byte characters then \"...\" (len %u)", len);
    len = sample16(emoji, 64 * 4);
    tap_is_uint(len, 64 * 4, "exactly 64 surrogate pairs -> no \"...\"");

    /* Width 4 (7). */
    const uint32_t u32[] = {'a', 0xE9, 0x1F600, 0x110000, 0xD800, 0xFFFFFFFFu, 'z'};
    len = sample32(u32, sizeof u32);
    EXPECT(len,
           "a\xC3\xA9\xF0\x9F\x98\x80\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
           "z",
           "UTF-32: a, U+00E9, U+1F600, >0x10FFFF, surrogate, 0xFFFFFFFF, z");
    const uint32_t u32nul[] = {'x', 0, 'y'};
    len = sample32(u32nul, sizeof u32nul);
    EXPECT(len, "x\0y", "UTF-32: embedded NUL kept");
    len = sample32(u32, 7); /* 1.75 units */
    EXPECT(len, "a", "UTF-32: 7 bytes round down to 1 unit");
    uint32_t long32[80];
    for (int i = 0; i < 80; i++)
        long32[i] = (uint32_t)('A' + i % 26);
    len = sample32(long32, sizeof long32);
    tap_is_mem(out, len, expect64, sizeof expect64, "UTF-32: 80 characters -> 64 then \"...\"");
    const uint32_t unaligned_src[] = {0, 'q', 'r'};
    char raw[16];
    memcpy(raw + 1, unaligned_src + 1, 8);
    memset(out, GUARD, sizeof out);
    len = bc_sample_utf8(raw + 1, 8, 4, out, BC_SAMPLE_MAX);
    EXPECT(len, "qr", "UTF-32 from an unaligned buffer");
    const uint16_t pair_only_high_counted[] = {0xD83D, 0xDE00};
    len = sample16(pair_only_high_counted, 2); /* the low half lies past BYTES */
    EXPECT(len, "\xEF\xBF\xBD", "pair cut by the byte length: high alone -> U+FFFD");
    len = sample32(u32, 0);
    tap_is_uint(len, 0, "UTF-32: 0 bytes -> empty");

    /* Small output buffers never overflow (5). */
    char small[16];
    memset(small, GUARD, sizeof small);
    len = bc_sample_utf8(longer, sizeof longer, 2, small, 8);
    tap_ok(len <= 8 && (unsigned char)small[8] == GUARD,
           "8-byte buffer, 100 chars: len %u <= 8, guard byte intact", len);
    tap_ok(len >= 3 && memcmp(small + len - 3, "...", 3) == 0,
           "cut by the buffer: sample still ends in \"...\"");
    memset(small, GUARD, sizeof small);
    len = bc_sample_utf8(emoji, sizeof emoji, 2, small, 10);
    tap_ok(len <= 10 && (unsigned char)small[10] == GUARD,
           "10-byte buffer, 4-byte characters: len %u <= 10, guard intact", len);
    memset(small, GUARD, sizeof small);
    len = bc_sample_utf8(ascii, sizeof ascii, 2, small, 3);
    tap_ok(len <= 3 && (unsigned char)small[3] == GUARD,
           "3-byte buffer: len %u <= 3, guard intact", len);
    memset(small, GUARD, sizeof small);
    len = bc_sample_utf8(ascii, sizeof ascii, 2, small, 0);
    tap_ok(len == 0 && (unsigned char)small[0] == GUARD, "0-byte buffer: nothing written");

    /* The full-size buffer holds the worst case: 64 four-byte chars + "...". */
    memset(out, GUARD, sizeof out);
    len = bc_sample_utf8(emoji, sizeof emoji, 2, out, BC_SAMPLE_MAX);
    tap_ok(len <= BC_SAMPLE_MAX && (unsigned char)out[BC_SAMPLE_MAX] == GUARD,
           "BC_SAMPLE_MAX buffer: worst case fits, guard intact (len %u)", len);

    return tap_done();
}
