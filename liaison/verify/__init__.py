"""Verification campaigns (信息核对): offices confirm or correct their own entries, editors decide, the service
follows up on working days. See :mod:`liaison.verify.campaign` for the life of a campaign."""
