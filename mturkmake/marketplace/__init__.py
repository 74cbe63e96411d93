"""The local MTurk marketplace. Depends only on mturkmake.formats and mturkmake.fees."""
