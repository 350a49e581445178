/* A library that takes 1 KiB of the spare static TLS when dlopen()ed, as a
 * runtime or plugin loaded before the shim may (run.py's
 * dlopen_after_static_tls case). */
__attribute__((tls_model("initial-exec"))) __thread char tls_heavy_buffer[1024];

char *tls_heavy_get(void)
{
    return tls_heavy_buffer;
}
