"""The handler's desk (``shoal desk``): holds the handler's keys, syncs
ciphertext, decrypts locally, replies signed. Trusted zone.
"""
