"""The catalog overview of a tagging output folder: data (`overview`), figures (`plots`), standalone HTML (`html`)."""
