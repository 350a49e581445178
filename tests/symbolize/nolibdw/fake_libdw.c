/* A "libdw.so.1" without any of libdw's functions: put first on
 * LD_LIBRARY_PATH, it stands for a libdw the shim cannot use. */
int bc_fake_libdw_marker;
