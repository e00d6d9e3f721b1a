"""De-identification (Art. 16).

Personal data may leave without consent only when processed so that no specific person can be
identified and it cannot be restored (Art. 16). ``masks`` holds the masking SQL that previews
and deliveries use; ``transforms`` (masking, truncation, date and region generalisation, keyed
SM3-HMAC pseudonyms, suppression, bucketing) and ``risk`` (k-anonymity, l-diversity,
prosecutor risk) are pure; ``service`` keeps profiles per dataset and releases that stay
blocked until their measured risk meets the profile's thresholds.
"""
