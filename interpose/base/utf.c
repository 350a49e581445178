/* Samples of leaked strings, as UTF-8: BSTRs hold UTF-16 (OLECHAR of 2
 * bytes) or UTF-32 (wchar_t ports). Invalid units become U+FFFD rather
 * than being dropped, so a corrupted string still shows its shape. */
#include "base.h"

#include <string.h>

#define REPLACEMENT 0xFFFDu

size_t bc_utf8_put(uint32_t cp, char *out, size_t room)
{
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = REPLACEMENT;
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        if (room < 1)
            return 0;
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        if (room < 2)
            return 0;
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        if (room < 3)
            return 0;
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (room < 4)
        return 0;
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The code point at unit I of a UTF-16 string of N units; *used gets how
 * many units it took. */
static uint32_t utf16_at(const uint16_t *s, size_t i, size_t n, size_t *used)
{
    uint32_t u = s[i];
    *used = 1;
    if (u >= 0xD800 && u <= 0xDBFF && i + 1 < n && s[i + 1] >= 0xDC00 && s[i + 1] <= 0xDFFF) {
        *used = 2;
        return 0x10000 + ((u - 0xD800) << 10) + (s[i + 1] - 0xDC00u);
    }
    return (u >= 0xD800 && u <= 0xDFFF) ? REPLACEMENT : u;
}

uint32_t bc_sample_utf8(const void *bstr, uint32_t bytes, unsigned width, char *out,
                        size_t outsz)
{
    static const char ellipsis[] = "...";
    size_t units = bytes / (width ? width : 2);
    size_t len = 0, i = 0;
    unsigned chars = 0;
    if (outsz < sizeof ellipsis)
        return 0;
    size_t room = outsz - sizeof ellipsis; /* always keep space for "..." */
    while (i < units && chars < BC_SAMPLE_CHARS) {
        uint32_t cp;
        size_t used = 1;
        if (width == 4) {
            uint32_t u;
            memcpy(&u, (const char *)bstr + i * 4, 4);
            cp = u;
        } else {
            cp = utf16_at(bstr, i, units, &used);
        }
        size_t n = bc_utf8_put(cp, out + len, room - len);
        if (n == 0)
            break;
        len += n;
        i += used;
        chars++;
    }
    if (i < units) {
        memcpy(out + len, ellipsis, sizeof ellipsis - 1);
        len += sizeof ellipsis - 1;
    }
    return (uint32_t)len;
}

size_t bc_olestr_units(const void *psz, unsigned width)
{
    size_t n = 0;
    if (width == 4) {
        const uint32_t *p = psz;
        while (p[n])
            n++;
    } else {
        const uint16_t *p = psz;
        while (p[n])
            n++;
    }
    return n;
}
