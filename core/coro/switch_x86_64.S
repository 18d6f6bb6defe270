/* switch_x86_64.S - csp__coro_switch and csp__coro_init for x86-64 SysV
 * (ELF, LP64). See coro.h for the contract.
 *
 * A suspended context is its stack pointer; the stack holds, from that
 * pointer upwards:
 *
 *     sp+0  r15   sp+8  r14   sp+16 r13   sp+24 r12
 *     sp+32 rbx   sp+40 rbp   sp+48 resume address
 *
 * Invariants:
 *   - Only callee-saved GPRs are saved (rbx, rbp, r12-r15). All xmm
 *     registers are caller-saved in SysV; MXCSR and the x87 control word
 *     are not saved (DESIGN §4.1).
 *   - The resume address is popped and jumped to (popq %rcx; jmp *%rcx),
 *     not returned to: `ret` to another stack defeats the return-stack
 *     predictor (3.6 ns vs 9.5 ns per switch, DESIGN §2.1).
 *   - At the resume address rsp is 16-byte aligned + 8 as after a call,
 *     and rax holds the ARG of the switch.
 *   - A new context resumes in trampoline, which calls ENTRY(ARG0, arg)
 *     with rsp 16-byte aligned. Its fake return address is 0, rbp is 0
 *     and its CFI marks rip undefined, so unwinders stop there.
 *   - endbr64 marks the entry points, but this file claims no CET
 *     property: returns here are indirect jumps to call sites, which IBT
 *     would reject, and the shadow stack is not switched. Linking it
 *     therefore drops IBT/SHSTK marking from the output, on purpose.
 */
#include "coro_arch.h"

#if defined(CSP__CORO_X86_64)

        .text

/* void *csp__coro_switch(void **from_sp, void *to_sp, void *arg)
 *                        rdi              rsi          rdx        */
        .p2align 4
        .globl  csp__coro_switch
        .hidden csp__coro_switch
        .type   csp__coro_switch, @function
csp__coro_switch:
        .cfi_startproc
        endbr64
        pushq   %rbp
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rbp, 0
        pushq   %rbx
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rbx, 0
        pushq   %r12
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r12, 0
        pushq   %r13
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r13, 0
        pushq   %r14
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r14, 0
        pushq   %r15
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %r15, 0

        movq    %rsp, (%rdi)
        movq    %rsi, %rsp      /* same frame layout: the CFI still holds */

        popq    %r15
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r15
        popq    %r14
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r14
        popq    %r13
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r13
        popq    %r12
        .cfi_adjust_cfa_offset -8
        .cfi_restore %r12
        popq    %rbx
        .cfi_adjust_cfa_offset -8
        .cfi_restore %rbx
        popq    %rbp
        .cfi_adjust_cfa_offset -8
        .cfi_restore %rbp
        movq    %rdx, %rax
        popq    %rcx
        .cfi_adjust_cfa_offset -8
        .cfi_register %rip, %rcx
        jmp     *%rcx
        .cfi_endproc
        .size   csp__coro_switch, .-csp__coro_switch

/* First code of a new context, reached by csp__coro_switch's jump with
 * rsp = top - 8 and [rsp] = 0 (a fake return address), r12 = ENTRY,
 * r13 = ARG0, rax = the switch's ARG, rbp = 0. */
        .p2align 4
        .type   trampoline, @function
trampoline:
        .cfi_startproc
        .cfi_undefined %rip
        endbr64
        movq    %r13, %rdi
        movq    %rax, %rsi
        pushq   %rbp            /* 0; aligns rsp to 16 for the call */
        .cfi_adjust_cfa_offset 8
        call    *%r12
        ud2                     /* ENTRY must not return */
        .cfi_endproc
        .size   trampoline, .-trampoline

/* void csp__coro_init(void **sp, void *lo, size_t size,
 *                     rdi        rsi       rdx
 *                     void (*entry)(void *, void *), void *arg0)
 *                     rcx                            r8            */
        .p2align 4
        .globl  csp__coro_init
        .hidden csp__coro_init
        .type   csp__coro_init, @function
csp__coro_init:
        .cfi_startproc
        endbr64
        leaq    (%rsi,%rdx), %rax
        andq    $-16, %rax              /* top, 16-byte aligned */
        leaq    trampoline(%rip), %r9
        xorl    %r10d, %r10d
        movq    %r10, -8(%rax)          /* fake return address of trampoline */
        movq    %r9, -16(%rax)          /* resume address */
        movq    %r10, -24(%rax)         /* rbp */
        movq    %r10, -32(%rax)         /* rbx */
        movq    %rcx, -40(%rax)         /* r12 = entry */
        movq    %r8, -48(%rax)          /* r13 = arg0 */
        movq    %r10, -56(%rax)         /* r14 */
        movq    %r10, -64(%rax)         /* r15 */
        subq    $64, %rax
        movq    %rax, (%rdi)
        ret
        .cfi_endproc
        .size   csp__coro_init, .-csp__coro_init

#endif /* CSP__CORO_X86_64 */

#if defined(__ELF__)
        .section .note.GNU-stack, "", %progbits
#endif
