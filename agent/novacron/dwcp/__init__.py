"""dwcp"""
