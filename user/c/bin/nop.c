/*
 * /bin/nop: exits 0 at once, like /bin/true. The program forkbench's exec
 * and posix_spawn workloads start: musl's whole start-up and exit, nothing
 * else.
 */
int main(void)
{
	return 0;
}
