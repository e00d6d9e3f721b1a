"""De-identification (Art. 16): masks today; transforms and risk measurement to come.

Personal data may leave without consent only when processed so that no specific person can be
identified and it cannot be restored (Art. 16). ``masks`` holds the masking SQL that previews and
deliveries use.
"""
