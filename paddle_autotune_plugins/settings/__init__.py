"""Every tuning option once (flag, help, default, check), and the page generated from them."""
