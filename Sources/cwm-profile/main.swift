print("cwm-profile")
