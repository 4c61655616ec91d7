/* target_empty.c - the firmware with nothing in it: the baseline that
 * bench/se_footprint.sh subtracts from se_footprint_target.c's size. */
int main(void)
{
    return 0;
}
