/* adler.c: Adler-32 (RFC 1950 §9), SSSE3 where the CPU has it, else zlib's.
 *
 * The vector loop is the well-known one (as in Chromium's zlib): per 32
 * bytes, s1 gains their sum (PSADBW) and s2 gains 32 * s1-before plus the
 * bytes weighted 32..1 (PMADDUBSW, PMADDWD); the sums are reduced modulo
 * 65521 every NMAX bytes, before any 32-bit lane can overflow.
 */
#include "client/adler.h"

#include <zlib.h>

#define ADLER_BASE 65521u
#define ADLER_NMAX 5552u   /* largest n with 255 n (n + 1) / 2 + (n + 1) (BASE - 1) < 2^32 */

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

__attribute__((target("ssse3"))) static uint32_t adler_ssse3(uint32_t adler, const uint8_t *p, size_t n)
{
    uint32_t s1 = adler & 0xffff, s2 = adler >> 16;
    size_t blocks = n / 32;
    n -= blocks * 32;
    const __m128i tap1 = _mm_setr_epi8(32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17);
    const __m128i tap2 = _mm_setr_epi8(16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1);
    const __m128i zero = _mm_setzero_si128();
    const __m128i ones = _mm_set1_epi16(1);
    while (blocks) {
        unsigned k = ADLER_NMAX / 32;
        if (k > blocks)
            k = (unsigned)blocks;
        blocks -= k;
        __m128i v_ps = _mm_set_epi32(0, 0, 0, (int)(s1 * k));   /* 32 * s1 per block, shifted in below */
        __m128i v_s2 = _mm_set_epi32(0, 0, 0, (int)s2);
        __m128i v_s1 = zero;
        do {
            __m128i b1 = _mm_loadu_si128((const __m128i *)p);
            __m128i b2 = _mm_loadu_si128((const __m128i *)(p + 16));
            v_ps = _mm_add_epi32(v_ps, v_s1);
            v_s1 = _mm_add_epi32(v_s1, _mm_sad_epu8(b1, zero));
            v_s2 = _mm_add_epi32(v_s2, _mm_madd_epi16(_mm_maddubs_epi16(b1, tap1), ones));
            v_s1 = _mm_add_epi32(v_s1, _mm_sad_epu8(b2, zero));
            v_s2 = _mm_add_epi32(v_s2, _mm_madd_epi16(_mm_maddubs_epi16(b2, tap2), ones));
            p += 32;
        } while (--k);
        v_s2 = _mm_add_epi32(v_s2, _mm_slli_epi32(v_ps, 5));
        v_s1 = _mm_add_epi32(v_s1, _mm_shuffle_epi32(v_s1, _MM_SHUFFLE(2, 3, 0, 1)));
        v_s1 = _mm_add_epi32(v_s1, _mm_shuffle_epi32(v_s1, _MM_SHUFFLE(1, 0, 3, 2)));
        s1 += (uint32_t)_mm_cvtsi128_si32(v_s1);
        v_s2 = _mm_add_epi32(v_s2, _mm_shuffle_epi32(v_s2, _MM_SHUFFLE(2, 3, 0, 1)));
        v_s2 = _mm_add_epi32(v_s2, _mm_shuffle_epi32(v_s2, _MM_SHUFFLE(1, 0, 3, 2)));
        s2 = (uint32_t)_mm_cvtsi128_si32(v_s2);
        s1 %= ADLER_BASE;
        s2 %= ADLER_BASE;
    }
    while (n--) {   /* fewer than 32 left: s1, s2 stay far from overflow */
        s1 += *p++;
        s2 += s1;
    }
    return (s2 % ADLER_BASE) << 16 | (s1 % ADLER_BASE);
}
#endif

uint32_t dcc_adler32(uint32_t adler, const uint8_t *p, size_t n)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();   /* cheap, and needed before constructors ran (static library) */
    if (__builtin_cpu_supports("ssse3"))
        return adler_ssse3(adler, p, n);
#endif
    while (n) {   /* zlib's adler32 takes uInt lengths */
        uInt m = n > (1u << 30) ? 1u << 30 : (uInt)n;
        adler = (uint32_t)adler32(adler, p, m);
        p += m;
        n -= m;
    }
    return adler;
}
