/*
 * Loaded (LD_PRELOAD) into user-mode Linux by lab's sandbox runner.
 *
 * UML saves and restores its processes' FPU state with PTRACE_GETREGSET/SETREGSET
 * (NT_X86_XSTATE) using a buffer of fixed size. A host kernel accepts SETREGSET only with
 * exactly its own XSAVE size, which on CPUs with AVX-512 and AMX (11008 bytes) exceeds
 * UML 6.1's buffer (2696 bytes): every restore fails with EFAULT and UML panics.
 *
 * This shim gives the host the size it wants: for each UML buffer (one per UML thread) it
 * keeps a full-size copy, reads the whole state into it, hands UML the part UML knows, and
 * on restore writes UML's part over the full copy. Nothing changes where the sizes agree.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

#define SLOTS 4096

struct slot {
	void *key;
	unsigned char *state;
};

static struct slot slots[SLOTS];
static size_t host_size;
static long (*real_ptrace)(int, pid_t, void *, void *);

static long raw_ptrace(int request, pid_t pid, void *addr, void *data)
{
	if (!real_ptrace)
		real_ptrace = (long (*)(int, pid_t, void *, void *))dlsym(RTLD_NEXT, "ptrace");
	return real_ptrace(request, pid, addr, data);
}

/* The host's XSAVE size, learned from a read with a buffer large enough for any CPU. */
static size_t xstate_size(pid_t pid)
{
	static unsigned char probe[1 << 16];

	if (!host_size) {
		struct iovec iov = { probe, sizeof(probe) };

		if (raw_ptrace(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &iov) == 0)
			host_size = iov.iov_len;
	}
	return host_size;
}

/* The full-size state kept for one UML buffer; *fresh is set when it was just made. */
static unsigned char *state_for(void *key, int *fresh)
{
	size_t start = ((uintptr_t)key >> 4) % SLOTS;

	*fresh = 0;
	for (size_t i = 0; i < SLOTS; i++) {
		struct slot *s = &slots[(start + i) % SLOTS];

		if (s->key == key)
			return s->state;
		if (!s->key) {
			s->state = malloc(host_size);
			if (!s->state)
				return NULL;
			s->key = key;
			*fresh = 1;
			return s->state;
		}
	}
	return NULL;
}

static long get_xstate(pid_t pid, struct iovec *iov)
{
	int fresh;
	unsigned char *full = state_for(iov->iov_base, &fresh);
	struct iovec whole = { full, host_size };

	if (!full)
		return raw_ptrace(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, iov);
	if (raw_ptrace(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &whole) < 0)
		return -1;
	memcpy(iov->iov_base, full, iov->iov_len);
	return 0;
}

static long set_xstate(pid_t pid, struct iovec *iov)
{
	int fresh;
	unsigned char *full = state_for(iov->iov_base, &fresh);
	struct iovec whole = { full, host_size };

	if (!full) {
		errno = ENOMEM;
		return -1;
	}
	/* A buffer never read through us (a new UML thread): start from the current state. */
	if (fresh && raw_ptrace(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &whole) < 0)
		return -1;
	memcpy(full, iov->iov_base, iov->iov_len);
	return raw_ptrace(PTRACE_SETREGSET, pid, (void *)NT_X86_XSTATE, &whole);
}

long ptrace(enum __ptrace_request request, ...)
{
	va_list args;
	pid_t pid;
	void *addr, *data;

	va_start(args, request);
	pid = va_arg(args, pid_t);
	addr = va_arg(args, void *);
	data = va_arg(args, void *);
	va_end(args);

	if ((request == PTRACE_GETREGSET || request == PTRACE_SETREGSET) && (long)addr == NT_X86_XSTATE &&
	    xstate_size(pid) > ((struct iovec *)data)->iov_len)
		return request == PTRACE_GETREGSET ? get_xstate(pid, data) : set_xstate(pid, data);
	return raw_ptrace(request, pid, addr, data);
}
