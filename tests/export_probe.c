/* A library with an internal name leaking: check-exports.sh must refuse it
 * (the test `exports_probe` shows the check can fail). */
int rail_probe_api(void);
int probe_internal(void);

int probe_internal(void)
{
    return 1;
}

int rail_probe_api(void)
{
    return probe_internal();
}
