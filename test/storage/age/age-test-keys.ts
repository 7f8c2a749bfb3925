/**
 * Key pairs made for these tests with age's own key generator; they protect
 * nothing. A test that checks no key reaches a message or log looks for these
 * strings.
 */
export const KEY_A = {
  identity: 'AGE-SECRET-KEY-1YNJLD3SRK8FQVMY0E04P9FQ7HXK53XXG385NEYH52VYS2N45SL3QT6MN5A',
  recipient: 'age13rlrzcac34kk9hk46wlsk8xwwgtuk4yxa2ud63xm2s05a6ru6ywsrqs5sn',
} as const;

export const KEY_B = {
  identity: 'AGE-SECRET-KEY-1AMEW3E0TLMEHGHEAX0AYAYZRSR0UAM9377WGPYDDR9RVWUA8R7ZSFANP7N',
  recipient: 'age1ce8m93q6uu3gyl9n9hm559qnsqj6q6fr0g4km20r3njun3hlggyqzdj6lc',
} as const;

export const KEY_C = {
  identity: 'AGE-SECRET-KEY-1P6M45A9EC6STEJMXLCPQPN68G6Z3UTKDGVEJ39A2E0RW9PHKYACSUJY28J',
  recipient: 'age1e273l8jc8wjp0cygwrlpmc526zrw2e67xqk9ra8w5ln5zwysjvaqr9psk4',
} as const;
