/*
 * /bin/musl-hello: the smallest C program in the initramfs. It proves that
 * musl's start-up code (auxv, TLS through arch_prctl), stdio (writev) and
 * exit work on Tine. Prints its arguments like the Rust /bin/hello.
 */
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	printf("hello from musl (pid %d)", (int)getpid());
	for (int i = 1; i < argc; i++)
		printf(" %s", argv[i]);
	printf("\n");
	return 0;
}
