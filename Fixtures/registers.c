/* Registers: general purpose, x87, MXCSR and AVX (ymm0-15) values held in
 * registers while the thread spins in user space (never in a system call),
 * then compared after the restart. Also covers "a busy loop". */
#include "fixture.h"
#include <stdint.h>

static uint8_t ymm_in[16][32] __attribute__((aligned(32)));
static uint8_t ymm_out[16][32] __attribute__((aligned(32)));
static uint64_t gp_out[6];
static long double x87_out[2];
static uint32_t mxcsr_in = 0x3f80 | 0x6000, mxcsr_out; /* round toward zero */

int main(void) {
    if (!__builtin_cpu_supports("avx")) { printf("READY %d\nPASS (no AVX on this CPU)\n", getpid()); return 0; }
    for (int r = 0; r < 16; r++) for (int i = 0; i < 32; i++) ymm_in[r][i] = (uint8_t)(r * 37 + i * 11 + 1);
    ready();
    __asm__ volatile(
        "vmovdqa 0(%[in]), %%ymm0\n vmovdqa 32(%[in]), %%ymm1\n vmovdqa 64(%[in]), %%ymm2\n vmovdqa 96(%[in]), %%ymm3\n"
        "vmovdqa 128(%[in]), %%ymm4\n vmovdqa 160(%[in]), %%ymm5\n vmovdqa 192(%[in]), %%ymm6\n vmovdqa 224(%[in]), %%ymm7\n"
        "vmovdqa 256(%[in]), %%ymm8\n vmovdqa 288(%[in]), %%ymm9\n vmovdqa 320(%[in]), %%ymm10\n vmovdqa 352(%[in]), %%ymm11\n"
        "vmovdqa 384(%[in]), %%ymm12\n vmovdqa 416(%[in]), %%ymm13\n vmovdqa 448(%[in]), %%ymm14\n vmovdqa 480(%[in]), %%ymm15\n"
        "ldmxcsr %[mxin]\n fldpi\n fld1\n"
        "movabs $0x1111222233334444, %%r12\n movabs $0x5555666677778888, %%r13\n"
        "movabs $0x99990000aaaabbbb, %%r14\n movabs $0xccccddddeeeeffff, %%r15\n"
        "movabs $0x0123456789abcdef, %%rbx\n mov $7, %%rcx\n"
        "1: pause\n add $3, %%rcx\n cmpl $0, %[flag]\n je 1b\n"
        "vmovdqa %%ymm0, 0(%[out])\n vmovdqa %%ymm1, 32(%[out])\n vmovdqa %%ymm2, 64(%[out])\n vmovdqa %%ymm3, 96(%[out])\n"
        "vmovdqa %%ymm4, 128(%[out])\n vmovdqa %%ymm5, 160(%[out])\n vmovdqa %%ymm6, 192(%[out])\n vmovdqa %%ymm7, 224(%[out])\n"
        "vmovdqa %%ymm8, 256(%[out])\n vmovdqa %%ymm9, 288(%[out])\n vmovdqa %%ymm10, 320(%[out])\n vmovdqa %%ymm11, 352(%[out])\n"
        "vmovdqa %%ymm12, 384(%[out])\n vmovdqa %%ymm13, 416(%[out])\n vmovdqa %%ymm14, 448(%[out])\n vmovdqa %%ymm15, 480(%[out])\n"
        "stmxcsr %[mxout]\n fstpt 0(%[x87])\n fstpt 16(%[x87])\n"
        "mov %%r12, 0(%[gp])\n mov %%r13, 8(%[gp])\n mov %%r14, 16(%[gp])\n mov %%r15, 24(%[gp])\n"
        "mov %%rbx, 32(%[gp])\n mov %%rcx, 40(%[gp])\n"
        "vzeroupper\n"
        : [mxout] "=m"(mxcsr_out)
        : [in] "r"(ymm_in), [out] "r"(ymm_out), [gp] "r"(gp_out), [x87] "r"(x87_out), [flag] "m"(fixture_stop), [mxin] "m"(mxcsr_in)
        : "memory", "cc", "rbx", "rcx", "r12", "r13", "r14", "r15",
          "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
          "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "st", "st(1)");
    for (int r = 0; r < 16; r++)
        if (memcmp(ymm_in[r], ymm_out[r], 32) != 0) fail("ymm%d differs", r);
    if (mxcsr_out != mxcsr_in) fail("mxcsr 0x%x, expected 0x%x", mxcsr_out, mxcsr_in);
    if (x87_out[0] != 1.0L) fail("x87 st0 %Lf", x87_out[0]);
    long double pi = 0; __asm__("fldpi; fstpt %0" : "=m"(pi));
    if (x87_out[1] != pi) fail("x87 st1 %Lf", x87_out[1]);
    if (gp_out[0] != 0x1111222233334444ULL || gp_out[1] != 0x5555666677778888ULL ||
        gp_out[2] != 0x99990000aaaabbbbULL || gp_out[3] != 0xccccddddeeeeffffULL || gp_out[4] != 0x0123456789abcdefULL)
        fail("general purpose registers changed");
    if ((gp_out[5] - 7) % 3 != 0) fail("loop counter rcx %lu is not 7 + 3k", (unsigned long)gp_out[5]);
    return finish();
}
