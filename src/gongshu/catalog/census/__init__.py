"""The census of information systems and public data (Art. 9): campaigns a data bureau opens
for the public bodies of its area, their answers (systems, government cloud, Art. 30), reminders
and the summary (``service``)."""
